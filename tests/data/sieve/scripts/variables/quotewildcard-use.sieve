require ["variables", "fileinto"];
if header :matches "subject" "*" { set :quotewildcard "q" "${1}"; }
if header :matches "subject" "${q}" { fileinto "self-match"; }

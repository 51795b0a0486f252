require ["variables", "fileinto"];
if header :matches "subject" "*" { set "s" "${1}"; }
if header :matches "subject" "no such thing *" { set "t" "x"; }
fileinto "still-[${1}]";

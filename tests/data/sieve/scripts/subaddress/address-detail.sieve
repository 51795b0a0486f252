require ["subaddress", "fileinto", "variables"];
if address :detail :matches "to" "*" { fileinto "detail-${1}"; }
if address :user "to" "me" { fileinto "user-me"; }
if address :detail "from" "news" { fileinto "from-news"; }

require ["subaddress", "envelope", "fileinto", "variables"];
if envelope :detail :matches "from" "*" { fileinto "from-detail-${1}"; }
if envelope :user "from" "bounce" { fileinto "bounce-user"; }

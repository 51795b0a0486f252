require ["envelope", "fileinto", "variables"];
if envelope :matches "from" "*@*" { fileinto "sender-${2}"; }

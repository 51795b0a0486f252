require ["subaddress", "fileinto", "variables"];
if address :detail :matches "delivered-to" "*" { fileinto "lists/${1}"; }

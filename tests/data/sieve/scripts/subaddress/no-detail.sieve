require ["subaddress", "fileinto"];
if address :detail "to" "" { fileinto "empty-detail"; }
if address :detail :matches "to" "*" { fileinto "any-detail"; }
if not address :detail :matches "from" "*" { fileinto "from-no-detail"; }

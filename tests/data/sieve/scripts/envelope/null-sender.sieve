require ["envelope", "fileinto"];
if envelope :is "from" "" { fileinto "null-sender"; }
if envelope :localpart :is "from" "" { fileinto "null-lp"; }
if envelope :matches "from" "*" { fileinto "from-any"; }

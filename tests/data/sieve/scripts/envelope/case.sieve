require ["envelope", "fileinto"];
if envelope :is "from" "ALICE@EXAMPLE.ORG" { fileinto "ci"; }
if envelope :is :comparator "i;octet" "from" "ALICE@EXAMPLE.ORG" { fileinto "octet"; }

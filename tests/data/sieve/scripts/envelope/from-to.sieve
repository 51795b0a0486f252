require ["envelope", "fileinto"];
if envelope :is "from" "alice@example.org" { fileinto "from-alice"; }
if envelope :domain "to" "example.com" { fileinto "to-domain"; }
if envelope :localpart "to" "postmaster" { fileinto "to-postmaster"; }

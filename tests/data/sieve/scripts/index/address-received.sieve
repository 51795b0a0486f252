require ["index", "fileinto"];
if address :index 1 :last :domain "resent-to" "example.com" { fileinto "resent"; }

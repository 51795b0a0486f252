require ["index", "fileinto"];
if address :index 1 :is "received" "x" { fileinto "never"; }
if address :index 1 :domain "from" "example.com" { fileinto "first-from"; }

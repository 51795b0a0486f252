require ["date", "index", "variables", "fileinto"];
if date :index 1 :matches :zone "+0000" "received" "time" "*" { fileinto "first-${1}"; }
if date :index 1 :last :matches :zone "+0000" "received" "time" "*" { fileinto "last-${1}"; }

require ["date", "fileinto"];
if not date :matches "date" "year" "*" { fileinto "no-date"; }
if date :matches "x-empty" "year" "*" { fileinto "empty-date"; }

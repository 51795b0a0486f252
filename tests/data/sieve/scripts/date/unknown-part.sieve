require ["date", "fileinto"];
if date "date" "century" "21" { fileinto "century"; }
if not date :matches "date" "fortnight" "*" { fileinto "unknown-part-is-false"; }

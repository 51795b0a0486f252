require ["date", "variables", "fileinto"];
if date :matches :zone "+0930" "date" "iso8601" "*" { fileinto "iso-${1}"; }
if date :matches :zone "-0500" "date" "day" "*" { fileinto "day-${1}"; }
if date :is :zone "+0100" "date" "month" "06" { fileinto "june"; }

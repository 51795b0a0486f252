require ["date", "variables", "fileinto"];
if date :matches "date" "iso8601" "*" { fileinto "local-${1}"; }
if date :value "ge" :comparator "i;ascii-numeric" "date" "year" "2024" { fileinto "y2024"; }

require ["date", "variables", "fileinto"];
if date :matches :zone "+0000" "date" "date" "*" { fileinto "date-${1}"; }
if date :matches :zone "+0000" "date" "time" "*" { fileinto "time-${1}"; }
if date :matches :zone "+0000" "date" "weekday" "*" { fileinto "weekday-${1}"; }
if date :matches :zone "+0000" "date" "julian" "*" { fileinto "julian-${1}"; }

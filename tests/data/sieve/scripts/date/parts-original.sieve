require ["date", "variables", "fileinto"];
if date :matches :originalzone "date" "zone" "*" { fileinto "zone-${1}"; }
if date :matches :originalzone "date" "hour" "*" { fileinto "hour-${1}"; }
if date :matches :originalzone "date" "iso8601" "*" { fileinto "iso-${1}"; }
if date :matches :originalzone "date" "std11" "*" { fileinto "std11-${1}"; }

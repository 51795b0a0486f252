require ["date", "variables", "fileinto"];
if currentdate :matches "year" "*" { set "year" "${1}"; }
if currentdate :value "ge" :comparator "i;ascii-numeric" "year" "2020" { fileinto "after-2020"; }
if currentdate :matches "julian" "*" { set "j" "${1}"; }
if string :value "gt" :comparator "i;ascii-numeric" "${j}" "50000" { fileinto "julian-ok-${year}"; }

require ["variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
set "a" "x";
set "b" "";
if string :count "eq" :comparator "i;ascii-numeric" ["${a}", "${b}", "y"] "2" { fileinto "two-non-empty"; }
if string :count "eq" :comparator "i;ascii-numeric" "" "0" { fileinto "zero"; }

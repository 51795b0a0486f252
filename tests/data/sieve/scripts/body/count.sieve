require ["body", "fileinto", "relational", "comparator-i;ascii-numeric"];
if body :raw :contains "the" { fileinto "raw-the"; }
if body :content "text" :count "ge" :comparator "i;ascii-numeric" "2" { fileinto "two-text-parts"; }

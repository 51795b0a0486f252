require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto "many"; }
if address :count "eq" :comparator "i;ascii-numeric" "to" "1" { fileinto "one-to"; }

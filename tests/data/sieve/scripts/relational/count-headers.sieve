require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :count "ge" :comparator "i;ascii-numeric" "received" "2" { fileinto "hops2"; }
if header :count "eq" :comparator "i;ascii-numeric" "x-custom" "3" { fileinto "custom3"; }
if header :count "eq" :comparator "i;ascii-numeric" ["x-custom", "received"] "6" { fileinto "six"; }
if header :count "eq" :comparator "i;ascii-numeric" "no-such-header" "0" { fileinto "none"; }

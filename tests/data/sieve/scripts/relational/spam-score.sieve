require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "10" { fileinto "spam"; }
elsif header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "maybe"; }
elsif header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "clean"; }

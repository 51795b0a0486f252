require ["relational", "fileinto"];
if header :value "gt" :comparator "i;octet" "subject" "a" { fileinto "gt-a"; }
if header :value "lt" :comparator "i;octet" "subject" "a" { fileinto "lt-a"; }

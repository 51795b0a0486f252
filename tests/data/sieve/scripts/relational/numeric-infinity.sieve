require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "gt" :comparator "i;ascii-numeric" "subject" "99999" { fileinto "subject-infinite"; }
if header :value "eq" :comparator "i;ascii-numeric" "x-spaces" "0" { fileinto "eq-zero"; }
if header :is :comparator "i;ascii-numeric" "x-priority" "03" { fileinto "is-numeric-3"; }

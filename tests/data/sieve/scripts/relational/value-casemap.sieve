require ["relational", "fileinto"];
if header :value "lt" "subject" "m" { fileinto "a-l"; }
if header :value "ge" "subject" "M" { fileinto "m-z"; }
if header :value "ne" "x-priority" "3" { fileinto "not-three"; }
if address :value "le" :domain "from" "example.com" { fileinto "dom-le"; }

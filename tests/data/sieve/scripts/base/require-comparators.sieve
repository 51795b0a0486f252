require ["comparator-i;octet", "comparator-i;ascii-casemap", "fileinto"];
if header :is :comparator "i;octet" "x-priority" "3" { fileinto "three"; }

require ["relational", "fileinto"];
if header :count "eq" "x-custom" "3" { fileinto "count-casemap-3"; }
if header :count "gt" "received" "10" { fileinto "count-casemap-gt10"; }

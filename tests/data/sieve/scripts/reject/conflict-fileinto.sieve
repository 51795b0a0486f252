require ["reject", "fileinto"];
if header :contains "subject" "deals" { reject "go away"; }
fileinto "later";

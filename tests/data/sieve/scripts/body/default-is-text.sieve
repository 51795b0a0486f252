require ["body", "fileinto"];
if body :contains "deals" { fileinto "deals"; }
if body :contains "DEALS" { fileinto "deals-ci"; }
if body :comparator "i;octet" :contains "DEALS" { fileinto "deals-octet"; }

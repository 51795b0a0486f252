require ["regex", "fileinto"];
if header :regex "subject" "^[[:upper:]][a-z]+ " { fileinto "capitalised"; }
if header :regex "x-spam-score" "^[0-9]{2,}$" { fileinto "two-digit-score"; }
if header :regex "subject" "!{3}" { fileinto "three-bangs"; }
if header :regex "subject" "\\bfast$" { fileinto "ends-fast"; }

require ["regex", "fileinto"];
if header :regex "received" "by.mail" { fileinto "dot-any"; }
if header :regex "subject" "^$" { fileinto "empty-subject"; }

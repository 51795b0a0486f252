require ["regex", "fileinto"];
if address :regex :domain "from" "\\.(org|net)$" { fileinto "org-or-net"; }
if address :regex :all "to" "^me@" { fileinto "me"; }

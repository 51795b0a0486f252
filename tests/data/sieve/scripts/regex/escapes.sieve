require ["regex", "fileinto"];
if header :regex "subject" "\\[acme-users\\]" { fileinto "bracket"; }
if header :regex "subject" "[]]" { fileinto "close-bracket"; }
if header :regex "subject" "\\w+\\s\\w+" { fileinto "words"; }
if header :regex "subject" "a{,2}" { fileinto "open-interval"; }

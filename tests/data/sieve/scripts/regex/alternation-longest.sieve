require ["regex", "variables", "fileinto"];
if header :regex "subject" "me|meet|meeting" { fileinto "m-${0}"; }
if header :regex "subject" "x*" { fileinto "empty-match-[${0}]"; }

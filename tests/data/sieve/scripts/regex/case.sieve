require ["regex", "fileinto"];
if header :regex "subject" "MEETING" { fileinto "ci"; }
if header :regex :comparator "i;octet" "subject" "MEETING" { fileinto "octet"; }
if header :regex "subject" "[A-Z]EETING" { fileinto "class-ci"; }

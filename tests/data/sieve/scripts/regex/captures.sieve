require ["regex", "variables", "fileinto"];
if header :regex "subject" "([0-9]+)\\.([0-9]+)" { fileinto "version-${1}-${2}-${0}"; }
if header :regex "from" "<(.*)@(.*)>" { fileinto "from-${1}-at-${2}"; }
if header :regex "subject" "(a|b)+c" { fileinto "never"; }

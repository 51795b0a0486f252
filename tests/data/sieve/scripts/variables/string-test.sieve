require ["variables", "fileinto"];
set "v" "Hello World";
if string :is "${v}" "hello world" { fileinto "is-ci"; }
if string :is :comparator "i;octet" "${v}" "hello world" { fileinto "is-octet"; }
if string :contains "${v}" "lo Wo" { fileinto "contains"; }
if string :matches "${v}" "H*o W*d" { fileinto "matches-${1}-${2}"; }
if string :is "${nothing}" "" { fileinto "empty"; }

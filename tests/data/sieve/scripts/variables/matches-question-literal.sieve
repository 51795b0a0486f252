# A '?' followed by a literal and a later '*': Pigeonhole 0.5.19 skips the
# literal ("?e*" matches "hi there"); RFC 5228 section 2.7.1 does not.
require ["variables", "fileinto"];
if header :matches "subject" "?e*" { fileinto "q=${1} rest=${2}"; }
if header :matches "subject" "M?e*" { fileinto "m=${1} rest=${2}"; }

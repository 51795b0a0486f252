require ["variables", "fileinto"];
set "who" "alice";
if address :localpart "from" "${who}" { fileinto "from-${who}"; }
set "pat" "*schedule";
if header :matches "subject" "${pat}" { fileinto "pattern"; }

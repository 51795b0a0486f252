require ["variables", "fileinto"];
if header :matches "from" "* <*@*>" { fileinto "name=${1} user=${2} dom=${3} all=${0}"; }
if header :matches "subject" "?*" { fileinto "q=${1} rest=${2}"; }

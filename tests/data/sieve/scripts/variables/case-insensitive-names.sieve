require ["variables", "fileinto"];
set "Name" "value";
fileinto "${NAME}-${name}-${nAmE}";

require ["editheader", "fileinto", "index", "variables"];
addheader "X-A" "1";
addheader :last "X-A" "2";
addheader "X-A" "0";
if header :index 1 :matches "x-a" "*" { fileinto "first-${1}"; }
if header :index 1 :last :matches "x-a" "*" { fileinto "last-${1}"; }

require ["editheader", "fileinto", "index", "variables"];
deleteheader :index 2 "x-custom";
if header :index 2 :matches "x-custom" "*" { fileinto "now-second-${1}"; }
deleteheader :index 1 :last "received";

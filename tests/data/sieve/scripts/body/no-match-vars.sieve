require ["body", "fileinto", "variables"];
if body :matches "*a*" { fileinto "m-[${1}]"; }

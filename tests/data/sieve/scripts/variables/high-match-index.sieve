require ["variables", "fileinto"];
if header :matches "subject" "*" { fileinto "[${10}][${01}][${9}]"; }

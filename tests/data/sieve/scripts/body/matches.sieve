require ["body", "fileinto"];
if body :matches "*university*" { fileinto "univ"; }
if body :raw :matches "*line 01234 of*" { fileinto "big-line"; }

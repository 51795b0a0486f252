require ["regex", "body", "fileinto"];
if body :raw :regex "line 0[0-9]{4} of" { fileinto "lines"; }
if body :text :regex "http://[a-z.]+/" { fileinto "url"; }

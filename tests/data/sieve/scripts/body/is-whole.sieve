require ["body", "fileinto"];
if body :raw :is "Ping me when you are back.\r\n" { fileinto "exact-raw"; }
if body :text :is "x" { fileinto "never"; }

require ["body", "fileinto"];
if body :text :contains "café" { fileinto "text-cafe"; }
if body :raw :contains "caf=E9" { fileinto "raw-qp"; }
if body :content "text/plain" :contains "plain part" { fileinto "plain"; }
if body :content "text/html" :contains "<p>" { fileinto "html-markup"; }
if body :content "application" :contains "secret" { fileinto "decoded-base64"; }
if body :content "multipart" :contains "prologue" { fileinto "prologue"; }
if body :content "message/rfc822" :contains "Subject: inner" { fileinto "inner-header"; }
if body :content "" :contains "epilogue" { fileinto "any-epilogue"; }

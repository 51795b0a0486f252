require ["editheader", "fileinto"];
addheader "X-Note" "Grüße, café";
if header :is "x-note" "Grüße, café" { fileinto "roundtrip"; }

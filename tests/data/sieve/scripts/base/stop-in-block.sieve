require "fileinto";
if header :contains "subject" ["meeting", "version"] {
    fileinto "first";
    stop;
}
fileinto "second";
